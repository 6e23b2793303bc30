"""ARM template expansion: expressions, functions and the template expander."""
