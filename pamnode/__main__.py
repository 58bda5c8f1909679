from pamnode.cli.main import app

app(prog_name="pamnode")
