from anomalykit.cli import main

main()
