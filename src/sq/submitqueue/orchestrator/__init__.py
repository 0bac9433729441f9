"""The SubmitQueue orchestrator: from a land request to a landed (or refused) change."""
