server: taskset -c 1 target/release/threading chat-server --addr 127.0.0.1:0 --json
load: taskset -c 0 target/release/decision-table chat-load --addr ADDR --server-pid PID --model threading --clients N --senders 5 --messages 6 --rate 2 --connect-timeout-s 60 --timeout-s 30 --json
