#!/bin/sh
# Example executable for the LSO-style execute endpoint: greets its first argument.
echo "hello, ${1:-world}"
