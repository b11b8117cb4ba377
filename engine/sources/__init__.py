"""Where events come from: one module per platform behind ``base.Source``, chosen from ``REGISTRY``."""
