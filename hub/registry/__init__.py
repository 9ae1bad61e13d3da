"""The registry: the sites and buttons file, the commands that change it while the hub runs, its
command line, and the broker credentials made from it."""
