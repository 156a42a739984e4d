"""Development tools that stand in for phones (see ``textgate phone``)."""
