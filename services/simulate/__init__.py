"""A live feed: realistic new appeals written into the store, and open ones moved through their lifecycle.

``python -m services.simulate [--rate 2/s] [--duration 1h] [--speed 1] [--seed N] [--store URL]``
keeps the wall display alive: appeals arrive at random (Poisson) from the district's buildings, with the
sample's mix of services, channels and causes; each is responded to, accepted, dispatched (or ordered on,
社区发令), resolved, confirmed, fed back and visited again — mostly on time, some late, now and then one
reopened because the reporter was not satisfied. Now and then a gathering happens: the crew of one
construction site reports wage arrears within minutes; the cluster is marked (services.gathering) and
the community orders departments on site, which check in early or late and report their outcome.

Time: ``--speed`` multiplies simulated time against the wall clock (``--speed 60`` runs an hour of
lifecycle in a minute; simulated time then runs ahead of the real clock, so use a scratch store).
``--rate`` is in simulated time. ``--duration`` is wall-clock time (default: until stopped). Ctrl-C or
SIGTERM finishes the current step, prints a summary and exits 0.

The core is ``Simulator(store, rng).step(now)``, usable from tests without a subprocess: each call adds
the arrivals since the previous call and performs every lifecycle step due by ``now``.

Modules: ``simulator`` (the core: arrivals, gatherings, the lifecycle agenda, the summary), ``appeals``
(the appeal maker: buildings, causes, channels, reporters), ``plans`` (the profile and each appeal's
plan, delays and ordered departments), ``running`` (stepping against the wall clock), ``cli`` (the
command line; ``__main__`` runs it).
"""

from services.simulate.appeals import Buildings, random_appeal
from services.simulate.cli import main, parse_duration, parse_rate
from services.simulate.plans import Plan, Profile
from services.simulate.running import run, store_busy
from services.simulate.simulator import ACTOR, ORDER_ISSUER, SOURCE, TZ, Simulator

__all__ = ["ACTOR", "ORDER_ISSUER", "SOURCE", "TZ", "Buildings", "Plan", "Profile", "Simulator", "main",
           "parse_duration", "parse_rate", "random_appeal", "run", "store_busy"]
