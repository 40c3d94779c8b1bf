# The htr image: CLI, Celery worker and beat. Build: docker compose build
#   EXTRAS=tensorflow      CPU (default)
#   EXTRAS=gpu             TensorFlow with CUDA wheels, for workers with an NVIDIA GPU
FROM python:3.11-slim
ARG EXTRAS=tensorflow
RUN apt-get update && apt-get install -y --no-install-recommends poppler-utils && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY recognition recognition
COPY segmentation segmentation
COPY training training
COPY worker worker
COPY migrations migrations
# Editable: htr finds migrations/ beside its code.
RUN pip install --no-cache-dir -e ".[${EXTRAS}]"
ENV TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow PYTHONUNBUFFERED=1
# The migrations are read from the source tree: run htr from /app.
ENTRYPOINT ["htr"]
CMD ["--help"]
