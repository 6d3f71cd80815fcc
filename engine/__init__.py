"""The bundled torch inference engine."""
