"""Small pieces every feature repeats: paging, the run predicates, the owned-resource lookup."""
