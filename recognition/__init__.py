"""Recognition core: charset, preprocessing, CRNN-CTC model, decoding, batch predictor."""
