"""JSON Schemas of the streams, shipped inside the package."""
