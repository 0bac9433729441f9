"""Domain logic shared by SubmitQueue controllers, free of I/O."""
