from maglabels.cli import main

main()
