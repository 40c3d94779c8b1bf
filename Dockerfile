# The htr image: CLI, Celery worker and beat, and the review app. Build: docker compose build
#   EXTRAS=tensorflow      CPU (default)
#   EXTRAS=gpu             TensorFlow with CUDA wheels, for workers with an NVIDIA GPU

# Build stage: dependencies first (a layer that stays cached while only the sources change),
# then the project itself, into one virtual environment.
FROM python:3.11-slim AS build
ARG EXTRAS=tensorflow
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/htr
ENV PATH=/opt/htr/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [d for e in '${EXTRAS}'.split(',') if e for d in p['optional-dependencies'][e]]; \
print('\n'.join(p['dependencies'] + extras))" > requirements.txt \
 && pip install -r requirements.txt
COPY recognition recognition
COPY segmentation segmentation
COPY training training
COPY worker worker
COPY migrations migrations
RUN pip install --no-deps .

# Run stage: the environment, poppler for PDFs, Tesseract for printed labels, an unprivileged user.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends poppler-utils tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 htr
COPY --from=build /opt/htr /opt/htr
ENV PATH=/opt/htr/bin:$PATH TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow PYTHONUNBUFFERED=1
USER htr
WORKDIR /home/htr
# The bundled model's ONNX graphs (HTR_BACKEND onnx, the default, and onnx-int8), written once here.
RUN python -m recognition.onnx_export && python -m recognition.onnx_export --int8
# Healthy when the database, the store and the broker answer (htr health).
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 CMD ["htr", "health"]
ENTRYPOINT ["htr"]
CMD ["--help"]
