"""One module per pipeline stage; `dlq` holds the DLQ reconcilers (submitqueue-spec §4)."""
