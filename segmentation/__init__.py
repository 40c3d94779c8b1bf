"""Page segmentation: binarization, deskew, ruling removal, text lines, words."""

from .crop import CROP_MARGIN
from .layout import Box, PageLayout, TextLine
from .page import crop_span_to_page, draw_overlay, line_crops, segment_page, to_page_box

__all__ = [
    "CROP_MARGIN",
    "Box",
    "PageLayout",
    "TextLine",
    "crop_span_to_page",
    "draw_overlay",
    "line_crops",
    "segment_page",
    "to_page_box",
]
