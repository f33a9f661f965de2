#!/bin/sh
# Benchmark workload (the reference's): with a directory argument, write a 3-row CSV into it
# and print one line; without one, make a temp directory, write the CSV there, print it, and
# remove the directory.
if [ -n "$1" ]; then
  printf 'sample,well,value\ns1,A01,0.1\ns2,A02,0.2\ns3,A03,0.3\n' > "$1/results.csv"
  echo "wrote $1/results.csv"
else
  dir=$(mktemp -d)
  printf 'sample,well,value\ns1,A01,0.1\ns2,A02,0.2\ns3,A03,0.3\n' > "$dir/results.csv"
  cat "$dir/results.csv"
  rm -rf "$dir"
fi
