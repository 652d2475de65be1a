"""The application layer: the composition root, the registry of real and simulated
hardware, the production/simulation mode, the workflows every front end shares (the
resident's visit, staff ticket operations), the ``kiosk`` command line and the database
migrations. It sits above the domain (``kiosk``) and ``payments`` and below ``ui``; it
renders nothing and holds no rule that the domain owns."""
