#!/usr/bin/perl
# A test SMSC built on Net::SMPP (Debian libnet-smpp-perl), an SMPP 3.4 implementation
# written independently of kefu. The tests start it, drive it through commands on stdin and
# read what it saw on stdout, one event a line, so that what kefu sends is decoded by
# someone else's code and what kefu receives was encoded by someone else's code.
#
# Usage: smsc.pl SYSTEM_ID PASSWORD       (listens on 127.0.0.1, an ephemeral port)
#
# stdout events (binary fields in hex, empty strings as "-"):
#   LISTENING <port>
#   CONNECTED
#   BIND <system_id> <password> <system_type> <interface_version> <answered status>
#   SUBMIT <seq> <src_ton> <src> <dst_ton> <dst> <esm_class> <data_coding> <registered> <hex> <message id>
#   SENT_RECEIPT <seq> <message id>
#   SENT_DELIVER <seq>
#   DELIVER_RESP <seq> <status>
#   ENQUIRE_LINK <seq>              (the client's keepalive)
#   ENQUIRE_LINK_RESP <seq>         (the client answering ours)
#   GENERIC_NACK <seq> <status>
#   UNBIND <seq>
#   OTHER <command id> <seq>
#   CLOSED
#
# stdin commands:
#   DELIVER <src_ton> <src> <dst> <data_coding> <esm_class> <hex short_message>
#   DELIVER_SAR <src_ton> <src> <dst> <data_coding> <ref> <total> <seq> <hex short_message>
#   RECEIPT <message id> <stat> <message_state>     (a receipt the tests choose)
#   ENQUIRE                          send enquire_link to the client
#   RAW <hex>                        write bytes as they are (malformed PDUs)
#   SUBMIT_STATUS <status>           answer the next submit_sm with this status
#   DROP                             close the client's connection without unbind
#   QUIT
use strict;
use warnings;
use IO::Select;
use Net::SMPP;
use POSIX qw(strftime);

$| = 1;
my ($want_id, $want_password) = @ARGV;
die "usage: smsc.pl SYSTEM_ID PASSWORD\n" unless defined $want_password;

my $listener = Net::SMPP->new_listen('127.0.0.1', port => 0, smpp_version => 0x34)
    or die "cannot listen: $!\n";
print "LISTENING ", $listener->sockport, "\n";

my $select = IO::Select->new(\*STDIN, $listener);
my $conn;
my $next_id = 1000;
my $submit_status = 0;
my $stdin_buffer = '';
my %last_submit;  # message id => [source, destination] for RECEIPT

sub show { my $v = shift; return (defined $v && length $v) ? $v : '-'; }

sub drop_connection {
    return unless $conn;
    $select->remove($conn);
    close $conn;
    undef $conn;
    print "CLOSED\n";
}

sub send_receipt {
    my ($id, $stat, $state, $source, $destination) = @_;
    my $now = strftime('%y%m%d%H%M', gmtime);
    my $text = "id:$id sub:001 dlvrd:" . ($stat eq 'DELIVRD' ? '001' : '000')
        . " submit date:$now done date:$now stat:$stat err:000 text:";
    my $seq = $conn->deliver_sm(
        source_addr_ton => 1, source_addr_npi => 1, source_addr => $destination,
        dest_addr_ton => 0, dest_addr_npi => 1, destination_addr => $source,
        esm_class => 0x04, data_coding => 0, short_message => $text,
        receipted_message_id => "$id\0", message_state => pack('C', $state),
        async => 1);
    print "SENT_RECEIPT $seq $id\n";
}

sub handle_pdu {
    my $pdu = shift;
    my $cmd = $pdu->{cmd};
    if ($cmd == 0x00000009) {  # bind_transceiver
        my $ok = $pdu->{system_id} eq $want_id && $pdu->{password} eq $want_password;
        my $status = $ok ? 0 : 0x0E;  # ESME_RINVPASWD
        $conn->bind_transceiver_resp(seq => $pdu->{seq}, status => $status,
                                     system_id => 'perl-smsc');
        print join(' ', 'BIND', show($pdu->{system_id}), show($pdu->{password}),
                   show($pdu->{system_type}), sprintf('%02x', $pdu->{interface_version}),
                   $status), "\n";
    } elsif ($cmd == 0x00000004) {  # submit_sm
        my $id = sprintf('%x', $next_id++);
        my $status = $submit_status;
        $submit_status = 0;
        $conn->submit_sm_resp(seq => $pdu->{seq}, status => $status,
                              message_id => $status ? '' : $id);
        print join(' ', 'SUBMIT', $pdu->{seq}, $pdu->{source_addr_ton}, show($pdu->{source_addr}),
                   $pdu->{dest_addr_ton}, show($pdu->{destination_addr}), $pdu->{esm_class},
                   $pdu->{data_coding}, $pdu->{registered_delivery},
                   show(unpack('H*', $pdu->{short_message})), $status ? '-' : $id), "\n";
        return if $status;
        $last_submit{$id} = [$pdu->{source_addr}, $pdu->{destination_addr}];
        if ($pdu->{registered_delivery} & 0x01) {
            send_receipt($id, 'DELIVRD', 2, $pdu->{source_addr}, $pdu->{destination_addr});
        }
    } elsif ($cmd == 0x80000005) {
        print "DELIVER_RESP $pdu->{seq} $pdu->{status}\n";
    } elsif ($cmd == 0x00000015) {
        $conn->enquire_link_resp(seq => $pdu->{seq});
        print "ENQUIRE_LINK $pdu->{seq}\n";
    } elsif ($cmd == 0x80000015) {
        print "ENQUIRE_LINK_RESP $pdu->{seq}\n";
    } elsif ($cmd == 0x80000000) {
        print "GENERIC_NACK $pdu->{seq} $pdu->{status}\n";
    } elsif ($cmd == 0x00000006) {
        $conn->unbind_resp(seq => $pdu->{seq});
        print "UNBIND $pdu->{seq}\n";
        drop_connection();
    } else {
        printf "OTHER %08x %d\n", $cmd, $pdu->{seq};
    }
}

sub handle_command {
    my @words = split ' ', shift;
    my $name = shift(@words) // '';
    exit 0 if $name eq 'QUIT';
    unless ($conn) { print "NO_CLIENT $name\n"; return; }
    if ($name eq 'DELIVER') {
        my ($ton, $src, $dst, $coding, $esm, $hex) = @words;
        my $seq = $conn->deliver_sm(
            source_addr_ton => $ton, source_addr_npi => 1, source_addr => $src,
            dest_addr_ton => 0, dest_addr_npi => 1, destination_addr => $dst,
            esm_class => $esm, data_coding => $coding,
            short_message => pack('H*', $hex eq '-' ? '' : $hex), async => 1);
        print "SENT_DELIVER $seq\n";
    } elsif ($name eq 'DELIVER_SAR') {
        my ($ton, $src, $dst, $coding, $ref, $total, $part, $hex) = @words;
        my $seq = $conn->deliver_sm(
            source_addr_ton => $ton, source_addr_npi => 1, source_addr => $src,
            dest_addr_ton => 0, dest_addr_npi => 1, destination_addr => $dst,
            esm_class => 0, data_coding => $coding, short_message => pack('H*', $hex),
            sar_msg_ref_num => pack('n', $ref), sar_total_segments => pack('C', $total),
            sar_segment_seqnum => pack('C', $part), async => 1);
        print "SENT_DELIVER $seq\n";
    } elsif ($name eq 'RECEIPT') {
        my ($id, $stat, $state) = @words;
        my ($source, $destination) = @{ $last_submit{$id} // ['', ''] };
        send_receipt($id, $stat, $state, $source, $destination);
    } elsif ($name eq 'ENQUIRE') {
        my $seq = $conn->enquire_link(async => 1);
        print "SENT_ENQUIRE $seq\n";
    } elsif ($name eq 'RAW') {
        $conn->syswrite(pack('H*', $words[0]));
        print "SENT_RAW\n";
    } elsif ($name eq 'SUBMIT_STATUS') {
        $submit_status = $words[0];
        print "SUBMIT_STATUS_SET $submit_status\n";
    } elsif ($name eq 'DROP') {
        drop_connection();
    } else {
        print "UNKNOWN_COMMAND $name\n";
    }
}

while (1) {
    for my $handle ($select->can_read) {
        if ($handle == $listener) {
            my $new = $listener->accept or next;
            drop_connection() if $conn;  # one client at a time, like a single-bind account
            $conn = $new;
            $select->add($conn);
            print "CONNECTED\n";
        } elsif ($handle == \*STDIN) {
            my $n = sysread(STDIN, $stdin_buffer, 65536, length $stdin_buffer);
            exit 0 unless $n;  # the test went away
            while ($stdin_buffer =~ s/^([^\n]*)\n//) {
                handle_command($1);
            }
        } elsif ($conn && $handle == $conn) {
            my $pdu = $conn->read_pdu();
            if ($pdu) { handle_pdu($pdu); } else { drop_connection(); }
        }
    }
}
