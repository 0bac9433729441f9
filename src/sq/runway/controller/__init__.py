"""Runway's controllers: dry-run conflict checks and landings, each with its DLQ reconciler."""
