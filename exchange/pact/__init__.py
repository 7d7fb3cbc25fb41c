"""The PACT v3 host: ``/3/footprints`` and ``/3/events``, footprint requests, and events
delivered to other hosts. Its wire model is :mod:`exchange.pact_wire`."""
