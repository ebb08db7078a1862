"""``python -m iamwatch``."""

from iamwatch.cli import main

main()
