# A bounded fork bomb: every process forks two children, down to depth 7, so 254 processes
# when nothing stops it. Each says what happened, holds on for 5 s, then reaps its children.
# (perl is in every Debian system: a failed fork is a value here, where a shell would exit.)
$| = 1;
sub bomb {
    my $depth = shift;
    return if $depth == 0;
    for (1, 2) {
        my $pid = fork;
        if (!defined $pid) { print "fork refused: $!\n"; next }
        if ($pid == 0) { bomb($depth - 1); sleep 5; 1 while wait != -1; exit 0 }
        print "forked\n";
    }
}
bomb(7);
sleep 5;
1 while wait != -1;
