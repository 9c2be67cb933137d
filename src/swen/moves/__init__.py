"""The move: one owner for a decision's lifecycle, the placements and where each service runs."""
