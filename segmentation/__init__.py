"""Page segmentation: binarization, deskew, ruling removal, text lines, words."""

from .layout import Box, Line, PageLayout
from .page import CROP_MARGIN, draw_overlay, line_crops, segment_page, to_page_box

__all__ = ["Box", "Line", "PageLayout", "segment_page", "line_crops", "draw_overlay", "to_page_box", "CROP_MARGIN"]
