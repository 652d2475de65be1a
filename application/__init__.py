"""The composition layer: wiring of the domain, payments, hardware and the web fronts."""
