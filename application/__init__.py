"""The application layer: composition root, registry of real and simulated hardware, workflows."""
