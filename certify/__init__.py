"""certify: prove and check lower bounds on the accuracy of small transformers."""
__version__ = "0.1.0"
