"""Entry point of the `haven` console script."""

import cli.alerts  # noqa: F401  (each module attaches its commands to the root group)
import cli.bench_api  # noqa: F401
import cli.bench_failover  # noqa: F401
import cli.bench_reach  # noqa: F401
import cli.book  # noqa: F401
import cli.demo  # noqa: F401
import cli.greenchannel  # noqa: F401
import cli.notify  # noqa: F401
from cli.root import cli


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
