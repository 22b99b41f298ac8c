"""Package discovery: setup.cfg holds everything else.

setup.cfg's ``packages = find:`` cannot add a package mapped from another folder, and
``zoo.recipes`` lives in ``recipes/`` so that recipes stay at the top of the checkout.
A hand-kept list silently drops new subpackages from the wheel; discovery does not.
"""

from setuptools import find_packages, setup

PACKAGES = find_packages(include=["zoo", "zoo.*", "tuners", "tuners.*", "callbacks", "callbacks.*"])

setup(packages=[*PACKAGES, "zoo.recipes"])
