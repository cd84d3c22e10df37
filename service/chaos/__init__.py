"""The chaos profile: forces the phantom event, the first face of the Dual Write problem.

Imported only when ``MARS_PROFILES_ACTIVE`` contains ``chaos``. It mirrors the seed's
architecture: ``ChaosService`` is the transaction boundary, ``ChaosOrderExecutor`` runs
the ordinary create-order use case, and the phantom-event interceptor around the
executor raises once the event is published, so the boundary rolls back.
"""
