"""Page segmentation: binarization, deskew, ruling removal, text lines, words."""

from .layout import Box, Line, PageLayout
from .page import draw_overlay, line_crops, segment_page

__all__ = ["Box", "Line", "PageLayout", "segment_page", "line_crops", "draw_overlay"]
