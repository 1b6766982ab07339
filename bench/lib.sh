# Sourced by bench/run and bench/compare: starting drinkd and nginx for
# a measurement.  The caller sets bench_me, the name its messages start
# with.

# bench_drinkd DRINKD CONF PORTS_FILE LOG: start drinkd in the background
# and wait (10 s at most) until it has written its ports; sets
# drinkd_pid, port and mport.
bench_drinkd() {
	rm -f "$3"
	"$1" -f "$2" -d 2>>"$4" &
	drinkd_pid=$!
	bench_n=0
	while [ ! -s "$3" ]; do
		bench_n=$((bench_n + 1))
		if [ $bench_n -gt 200 ] ||
		    ! kill -0 "$drinkd_pid" 2>/dev/null; then
			echo "$bench_me: drinkd did not start; see $4" >&2
			exit 1
		fi
		sleep 0.05
	done
	port=$(sed 's/.*"listen":\([0-9]*\).*/\1/' "$3")
	mport=$(sed 's/.*"machine_listen":\([0-9]*\).*/\1/' "$3")
}

# bench_nginx PREFIX CONF ERROR_LOG [STDERR_FILE]: start nginx in the
# foreground of a background job (its own configuration, never the
# system service); sets nginx_pid and nginx_pids (master and workers,
# comma-separated).
bench_nginx() {
	if [ -n "${4:-}" ]; then
		nginx -p "$1" -c "$2" -g 'daemon off;' 2>>"$4" &
	else
		nginx -p "$1" -c "$2" -g 'daemon off;' &
	fi
	nginx_pid=$!
	sleep 0.5
	nginx_pids=$nginx_pid
	for bench_p in $(ps -o pid= --ppid "$nginx_pid"); do
		nginx_pids=$nginx_pids,$bench_p
	done
	if [ "$nginx_pids" = "$nginx_pid" ]; then
		echo "$bench_me: nginx did not start; see $3" >&2
		exit 1
	fi
}
