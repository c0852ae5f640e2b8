# soak.gnuplot - the chart of tests/soak/soak.sh (gnuplot-nox):
#
#   gnuplot -e "in='samples.csv'; out='soak.png'" soak.gnuplot
#
# in: the soak's samples.csv (a header line, then t_s, phase, completed,
# deleted, sagas_per_s, sagas, unfinished, steps, history, inbox, outbox,
# sagas_bytes, steps_bytes, history_bytes, inbox_bytes, outbox_bytes,
# db_bytes).  Three panels against time: rows, sizes, throughput.  The
# inbox, which grows by design during a soak (its ids are kept inbox_ttl,
# an hour at least), is on the right-hand axis.

set terminal pngcairo size 1000,1000 enhanced font 'DejaVu Sans,10'
set output out
set datafile separator ','
set key outside right top
set grid
set xlabel 'seconds since the first trigger'
set multiplot layout 3,1
c_sagas = '#8e24aa'; c_open = '#43a047'; c_steps = '#1e88e5'
c_hist = '#fb8c00'; c_outbox = '#757575'; c_inbox = '#e53935'

set title 'Rows (count(*)); finished sagas are kept 20 s'
set ylabel 'rows'
set y2label 'inbox rows'
set ytics nomirror
set y2tics
plot in using 1:6 with lines lw 2 lc rgb c_sagas title 'sagas', \
     '' using 1:7 with lines lc rgb c_open title 'of them unfinished', \
     '' using 1:8 with lines lw 2 lc rgb c_steps title 'saga\_steps', \
     '' using 1:9 with lines lw 2 lc rgb c_hist title 'saga\_history', \
     '' using 1:11 with lines lc rgb c_outbox title 'outbox', \
     '' using 1:10 axes x1y2 with lines dt 2 lc rgb c_inbox title 'inbox (right)'

set title 'Sizes (storage\_usage: table, indexes and TOAST)'
set ylabel 'MB'
set y2label 'inbox MB'
plot in using 1:($12/1048576) with lines lw 2 lc rgb c_sagas title 'sagas', \
     '' using 1:($13/1048576) with lines lw 2 lc rgb c_steps title 'saga\_steps', \
     '' using 1:($14/1048576) with lines lw 2 lc rgb c_hist title 'saga\_history', \
     '' using 1:($16/1048576) with lines lc rgb c_outbox title 'outbox', \
     '' using 1:($15/1048576) axes x1y2 with lines dt 2 lc rgb c_inbox title 'inbox (right)'

set title 'Throughput'
set ylabel 'sagas/s'
unset y2label
unset y2tics
set ytics mirror
plot in using 1:5 with lines lw 2 lc rgb c_sagas title 'sagas completed per second'

unset multiplot
