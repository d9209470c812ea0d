"""``python -m gateway``: the ``pain-gateway`` command, for an environment without its console script."""

from gateway.cli import main

if __name__ == "__main__":
    main()
