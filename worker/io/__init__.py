"""Input: reading documents into pages (``documents``), the object store (``store``) and the
layout of keys in it (``keys``)."""
