# plot.gnuplot - the two charts of tests/bench/run-bench.sh (gnuplot-nox).
#
#   gnuplot -e "sweep='sweep.tsv'; out_sweep='throughput-vs-batch.png'; \
#               out_lat='latency.png'; target=10000; pg_single=3600; \
#               pg_set=14000; cdf1='a.tsv'; title1='(a)'; cdf2=''; title2=''; \
#               cdf3=''; title3=''; cdf4=''; title4=''; \
#               echo_cdf='kafka-echo-cdf.tsv'" plot.gnuplot
#
# sweep:  "batch_size<TAB>steps/s<TAB>events/s<TAB>sagas/s" rows (scenario (a)
#         with the closed-loop load at each ORC_BATCH_SIZE)
# cdfN:   "percent<TAB>step latency ms" rows of a latency run; '' = none
# echo_cdf: the same for the Kafka echo round trip ('' or missing = none)
# pg_single, pg_set: pgbench steps/s (one step per transaction at 16 clients,
#         50 per transaction at 1 client), drawn as reference lines

set terminal pngcairo size 1000,620 enhanced font 'DejaVu Sans,11'
set grid
set key below

# ---- throughput against batch size
set output out_sweep
set title "Saga steps per second against ORC\\_BATCH\\_SIZE (scenario (a), 3 sequential steps)"
set xlabel "batch size (events per transaction, log scale)"
set ylabel "per second"
set logscale x
set xrange [0.7:800]
set yrange [0:*]
set format y "%.0f"
set xtics (1, 10, 100, 500)
plot sweep using 1:2 with linespoints lw 2 pt 7 ps 1.3 title "saga steps/s", \
     sweep using 1:3 with linespoints lw 1 dt 2 pt 6 title "events applied/s (steps + starts)", \
     sweep using 1:2:(sprintf("%.0f", $2)) with labels offset 0,1.2 notitle, \
     target with lines lw 2 lc rgb "#cc0000" dt 3 title sprintf("target %.0f steps/s", target), \
     pg_single with lines lw 1 lc rgb "#888888" dt 4 title sprintf("pgbench 1 step/txn, 16 clients: %.0f", pg_single), \
     pg_set with lines lw 1 lc rgb "#444444" dt 5 title sprintf("pgbench 50 steps/txn set-based, 1 client: %.0f", pg_set)

# ---- latency distribution (CDF) of the latency runs
unset logscale x
unset xtics
set xtics auto
set output out_lat
set title "Step latency at 50% of the maximum load (command commit -> reply's transition commit)"
set xlabel "latency, ms (log scale)"
set ylabel "percentile"
set logscale x
set xrange [*:*]
set yrange [0:100]
set ytics 10
set format x "%g"
set key below
set arrow 1 from 10, graph 0 to 10, graph 1 nohead lc rgb "#cc0000" dt 3
set arrow 2 from 50, graph 0 to 50, graph 1 nohead lc rgb "#cc0000" dt 3
set label 1 "p50 target" at 10, 52 right offset -0.5,0 tc rgb "#cc0000"
set label 2 "p99 target" at 50, 97 right offset -0.5,0 tc rgb "#cc0000"
set style line 1 lw 2 lc rgb "#1f77b4"
set style line 2 lw 2 lc rgb "#ff7f0e"
set style line 3 lw 2 lc rgb "#2ca02c"
set style line 4 lw 2 lc rgb "#7f7f7f" dt 2
set style line 5 lw 2 lc rgb "#9467bd"
if (!exists("cdf4")) { cdf4 = ""; title4 = "" }
has(f) = strlen(f) > 0 && system("test -s '" . f . "' && echo 1 || echo 0") eq "1"
cmd = ""
add(f, t, ls) = has(f) ? sprintf("%s'%s' using 2:1 with lines ls %d title '%s'", \
                                 (strlen(cmd) > 0 ? ", " : ""), f, ls, t) : ""
cmd = cmd . add(cdf1, title1, 1)
cmd = cmd . add(cdf2, title2, 2)
cmd = cmd . add(cdf3, title3, 3)
cmd = cmd . add(cdf4, title4, 5)
cmd = cmd . add(echo_cdf, "Kafka echo round trip alone", 4)
if (strlen(cmd) > 0) { eval("plot " . cmd) } else { print "no latency runs: latency chart not drawn" }
