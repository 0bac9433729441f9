"""Extension seams of SubmitQueue: one Protocol per package, implementations beside it."""
