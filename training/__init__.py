"""Training package: dataset readers, rendering, augmentation, the training loop, evaluation."""
