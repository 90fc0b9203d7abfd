# The benchmark workload as a pyinfra deploy (bench/compare/README.md).
from pyinfra import host, inventory
from pyinfra.operations import apt, files, server, systemd

apt.packages(name="packages", packages=["haproxy", "redis-server"], update=False)
files.directory(name="directory", path="/etc/hademo", mode="755", user="root")
for i in range(1, 11):
    idx = f"{i:02d}"
    files.template(
        name=f"conf-{idx}",
        src="templates/conf.cfg.j2",
        dest=f"/etc/hademo/conf-{idx}.cfg",
        mode="644",
        user="root",
        idx=idx,
        hname=host.name,
        haddr=host.data.addr,
        flavor=host.data.flavor,
    )
fleet = [{"name": h.name, "addr": h.data.addr} for h in inventory]
# render beside, validate with haproxy -c, then move into place
staged = files.template(
    name="haproxy.cfg (staged)",
    src="templates/haproxy.cfg.j2",
    dest="/etc/haproxy/haproxy.cfg.hademo",
    mode="644",
    user="root",
    fleet=fleet,
)
server.shell(
    name="haproxy.cfg (validate, install)",
    commands=["haproxy -c -q -f /etc/haproxy/haproxy.cfg.hademo && cp /etc/haproxy/haproxy.cfg.hademo /etc/haproxy/haproxy.cfg"],
    _if=staged.did_change,
)
systemd.service(name="haproxy running", service="haproxy", running=True, enabled=True)
systemd.service(name="restart haproxy", service="haproxy", restarted=True, _if=staged.did_change)
