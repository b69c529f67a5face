"""Warning feeds in, notifications out (see DESIGN.md, Architecture: alerts/)."""
