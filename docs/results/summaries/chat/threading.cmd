target/release/decision-table chat-load --addr 127.0.0.1:43281 --model threading --clients 1000 --senders 10 --messages 10
