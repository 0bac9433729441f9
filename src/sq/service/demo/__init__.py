"""What `sq demo` runs."""
