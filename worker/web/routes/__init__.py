"""The review app's routes, one router per concern: ``auth`` (login, logout, who am I),
``tokens`` (API tokens), ``people`` (users and roles, admins only), ``documents``
(lists, pages, images, exports, deletion), ``review`` (the review queue, saving lines)
and ``search``."""
