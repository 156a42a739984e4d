"""Events out by email: outbound mail sinks and the mail sender (DESIGN section 1)."""
