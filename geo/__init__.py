"""Everything spatial, nothing else; imports no other Haven module (docs/architecture.md: geo/)."""
