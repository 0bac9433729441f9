"""SubmitQueue and Stovepipe."""
