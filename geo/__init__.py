"""Everything spatial, nothing else; imports no other Haven module (see DESIGN.md, Architecture: geo/)."""
