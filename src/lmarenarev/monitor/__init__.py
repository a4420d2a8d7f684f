"""Monitoring: the request log's reader and writer, the observer and the metrics of one gateway
(`service.Monitoring`), the dashboard's summaries (`stats`), its templates and static files."""
