"""After the loss: CAT events, claims, fast-track queue, rescue, advance payments (see DESIGN.md)."""
